// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.graphics;

import android.content.ContentResolver;
import android.net.Uri;
import android.util.Size;
import java.io.IOException;

public final class ImageDecoder implements AutoCloseable {
    public static final int ALLOCATOR_DEFAULT = 0;
    public static final int ALLOCATOR_SOFTWARE = 1;
    public static final int ALLOCATOR_SHARED_MEMORY = 2;
    public static final int ALLOCATOR_HARDWARE = 3;

    public abstract static class Source {
        private Source() { throw new RuntimeException("Stub!"); }
    }

    public static class ImageInfo {
        private ImageInfo() { throw new RuntimeException("Stub!"); }
        public Size getSize() { throw new RuntimeException("Stub!"); }
        public String getMimeType() { throw new RuntimeException("Stub!"); }
    }

    public interface OnHeaderDecodedListener {
        void onHeaderDecoded(ImageDecoder decoder, ImageInfo info, Source source);
    }

    public static final class DecodeException extends IOException {
        private DecodeException() { throw new RuntimeException("Stub!"); }
    }

    private ImageDecoder() { throw new RuntimeException("Stub!"); }
    public static Source createSource(ContentResolver cr, Uri uri) { throw new RuntimeException("Stub!"); }
    public static Bitmap decodeBitmap(Source src, OnHeaderDecodedListener listener) throws IOException { throw new RuntimeException("Stub!"); }
    public static Bitmap decodeBitmap(Source src) throws IOException { throw new RuntimeException("Stub!"); }
    public int getAllocator() { throw new RuntimeException("Stub!"); }
    public void setAllocator(int allocator) { throw new RuntimeException("Stub!"); }
    public void setTargetColorSpace(ColorSpace colorSpace) { throw new RuntimeException("Stub!"); }
    public void setTargetSampleSize(int sampleSize) { throw new RuntimeException("Stub!"); }
    public void setTargetSize(int width, int height) { throw new RuntimeException("Stub!"); }
    @Override public void close() { throw new RuntimeException("Stub!"); }
}
