// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package androidx.camera.core;

public final class CameraSelector {
    public static final CameraSelector DEFAULT_FRONT_CAMERA = null;
    public static final CameraSelector DEFAULT_BACK_CAMERA = null;

    private CameraSelector() { throw new RuntimeException("Stub!"); }
}
