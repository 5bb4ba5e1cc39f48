// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.graphics;

public class BitmapFactory {
    public static class Options {
        public Bitmap.Config inPreferredConfig;
        public boolean inScaled;
        public int inSampleSize;
    }

    public static Bitmap decodeByteArray(byte[] data, int offset, int length, Options opts) { throw new RuntimeException("Stub!"); }
}
