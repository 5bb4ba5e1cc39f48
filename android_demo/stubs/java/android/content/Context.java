// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.content;

import android.content.pm.PackageManager;
import android.content.res.AssetManager;
import java.io.File;
import java.util.concurrent.Executor;

public abstract class Context {
    public abstract AssetManager getAssets();
    public abstract ContentResolver getContentResolver();
    public abstract PackageManager getPackageManager();
    public abstract File getFilesDir();
    public abstract File getExternalFilesDir(String type);
    public Executor getMainExecutor() { throw new RuntimeException("Stub!"); }
    public final String getString(int resId) { throw new RuntimeException("Stub!"); }
}
