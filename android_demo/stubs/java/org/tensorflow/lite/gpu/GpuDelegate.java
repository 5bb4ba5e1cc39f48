// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package org.tensorflow.lite.gpu;

import org.tensorflow.lite.Delegate;

public class GpuDelegate implements Delegate {
    public GpuDelegate(GpuDelegateFactory.Options options) { throw new RuntimeException("Stub!"); }
    public GpuDelegate() { throw new RuntimeException("Stub!"); }
    @Override public long getNativeHandle() { throw new RuntimeException("Stub!"); }
    @Override public void close() { throw new RuntimeException("Stub!"); }

    /** Deprecated in LiteRT (use GpuDelegateFactory.Options), as in the real library. */
    @Deprecated
    public static class Options extends GpuDelegateFactory.Options {
    }
}
