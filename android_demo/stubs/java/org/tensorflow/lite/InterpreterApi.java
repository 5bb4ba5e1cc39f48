// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package org.tensorflow.lite;

public interface InterpreterApi extends AutoCloseable {
    class Options {
        public Options() { throw new RuntimeException("Stub!"); }
        public Options setNumThreads(int numThreads) { throw new RuntimeException("Stub!"); }
        public Options setUseXNNPACK(boolean useXNNPACK) { throw new RuntimeException("Stub!"); }
        public Options addDelegate(Delegate delegate) { throw new RuntimeException("Stub!"); }
    }

    void run(Object input, Object output);
    int getInputTensorCount();
    Tensor getInputTensor(int inputIndex);
    int getOutputTensorCount();
    Tensor getOutputTensor(int outputIndex);
    @Override void close();
}
