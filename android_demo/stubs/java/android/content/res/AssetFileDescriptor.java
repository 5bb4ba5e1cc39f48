// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.content.res;

import java.io.Closeable;
import java.io.FileDescriptor;
import java.io.IOException;

public class AssetFileDescriptor implements Closeable {
    public FileDescriptor getFileDescriptor() { throw new RuntimeException("Stub!"); }
    public long getStartOffset() { throw new RuntimeException("Stub!"); }
    public long getDeclaredLength() { throw new RuntimeException("Stub!"); }
    public long getLength() { throw new RuntimeException("Stub!"); }
    @Override public void close() throws IOException { throw new RuntimeException("Stub!"); }
}
