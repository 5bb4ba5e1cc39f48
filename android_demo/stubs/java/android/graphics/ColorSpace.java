// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.graphics;

public abstract class ColorSpace {
    public enum Named { SRGB, LINEAR_SRGB, EXTENDED_SRGB, DISPLAY_P3 }

    private ColorSpace() { throw new RuntimeException("Stub!"); }
    public static ColorSpace get(Named name) { throw new RuntimeException("Stub!"); }
}
