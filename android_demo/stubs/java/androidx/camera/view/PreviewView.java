// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package androidx.camera.view;

import androidx.camera.core.Preview;
import android.widget.FrameLayout;

public final class PreviewView extends FrameLayout {
    public Preview.SurfaceProvider getSurfaceProvider() { throw new RuntimeException("Stub!"); }
}
