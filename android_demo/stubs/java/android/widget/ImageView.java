// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.widget;

import android.graphics.Bitmap;
import android.view.View;

public class ImageView extends View {
    public void setImageBitmap(Bitmap bm) { throw new RuntimeException("Stub!"); }
}
