// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.graphics;

public class Matrix {
    public Matrix() { throw new RuntimeException("Stub!"); }
    public boolean postRotate(float degrees) { throw new RuntimeException("Stub!"); }
}
