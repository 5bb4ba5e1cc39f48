// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package org.tensorflow.lite.gpu;

public class GpuDelegateFactory {
    public static class Options {
        public Options() { throw new RuntimeException("Stub!"); }
        public Options setPrecisionLossAllowed(boolean precisionLossAllowed) { throw new RuntimeException("Stub!"); }
    }
}
