// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package androidx.camera.core;

public final class Preview extends UseCase {
    public interface SurfaceProvider {
    }

    private Preview() { throw new RuntimeException("Stub!"); }
    public void setSurfaceProvider(SurfaceProvider surfaceProvider) { throw new RuntimeException("Stub!"); }

    public static final class Builder {
        public Builder() { throw new RuntimeException("Stub!"); }
        public Preview build() { throw new RuntimeException("Stub!"); }
    }
}
