// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package org.tensorflow.lite;

import java.nio.ByteBuffer;

public final class Interpreter implements InterpreterApi {
    public static class Options extends InterpreterApi.Options {
        public Options() { throw new RuntimeException("Stub!"); }
        @Override public Options setNumThreads(int numThreads) { throw new RuntimeException("Stub!"); }
        @Override public Options setUseXNNPACK(boolean useXNNPACK) { throw new RuntimeException("Stub!"); }
        @Override public Options addDelegate(Delegate delegate) { throw new RuntimeException("Stub!"); }
    }

    public Interpreter(ByteBuffer byteBuffer, Options options) { throw new RuntimeException("Stub!"); }
    @Override public void run(Object input, Object output) { throw new RuntimeException("Stub!"); }
    @Override public int getInputTensorCount() { throw new RuntimeException("Stub!"); }
    @Override public Tensor getInputTensor(int inputIndex) { throw new RuntimeException("Stub!"); }
    @Override public int getOutputTensorCount() { throw new RuntimeException("Stub!"); }
    @Override public Tensor getOutputTensor(int outputIndex) { throw new RuntimeException("Stub!"); }
    @Override public void close() { throw new RuntimeException("Stub!"); }
}
