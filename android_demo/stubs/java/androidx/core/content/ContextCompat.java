// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package androidx.core.content;

import android.content.Context;
import java.util.concurrent.Executor;

public class ContextCompat {
    protected ContextCompat() { throw new RuntimeException("Stub!"); }
    public static int checkSelfPermission(Context context, String permission) { throw new RuntimeException("Stub!"); }
    public static Executor getMainExecutor(Context context) { throw new RuntimeException("Stub!"); }
}
