// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package androidx.camera.core;

import java.util.concurrent.Executor;

public final class ImageAnalysis extends UseCase {
    public static final int STRATEGY_KEEP_ONLY_LATEST = 0;
    public static final int STRATEGY_BLOCK_PRODUCER = 1;
    public static final int OUTPUT_IMAGE_FORMAT_YUV_420_888 = 1;
    public static final int OUTPUT_IMAGE_FORMAT_RGBA_8888 = 2;

    public interface Analyzer {
        void analyze(ImageProxy image);
    }

    private ImageAnalysis() { throw new RuntimeException("Stub!"); }
    public void setAnalyzer(Executor executor, Analyzer analyzer) { throw new RuntimeException("Stub!"); }
    public void clearAnalyzer() { throw new RuntimeException("Stub!"); }

    public static final class Builder {
        public Builder() { throw new RuntimeException("Stub!"); }
        public Builder setBackpressureStrategy(int strategy) { throw new RuntimeException("Stub!"); }
        public Builder setOutputImageFormat(int outputImageFormat) { throw new RuntimeException("Stub!"); }
        public ImageAnalysis build() { throw new RuntimeException("Stub!"); }
    }
}
