// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package org.tensorflow.lite.gpu;

import java.io.Closeable;

public class CompatibilityList implements Closeable {
    public CompatibilityList() { throw new RuntimeException("Stub!"); }
    public boolean isDelegateSupportedOnThisDevice() { throw new RuntimeException("Stub!"); }
    @SuppressWarnings("deprecation")
    public GpuDelegate.Options getBestOptionsForThisDevice() { throw new RuntimeException("Stub!"); }
    @Override public void close() { throw new RuntimeException("Stub!"); }
}
