// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package org.tensorflow.lite;

public interface Tensor {
    class QuantizationParams {
        public QuantizationParams(float scale, int zeroPoint) { throw new RuntimeException("Stub!"); }
        public float getScale() { throw new RuntimeException("Stub!"); }
        public int getZeroPoint() { throw new RuntimeException("Stub!"); }
    }

    DataType dataType();
    int[] shape();
    int numBytes();
    String name();
    QuantizationParams quantizationParams();
}
