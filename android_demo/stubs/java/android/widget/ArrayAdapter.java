// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.widget;

import android.content.Context;
import java.util.List;

public class ArrayAdapter<T> extends BaseAdapter {
    public ArrayAdapter(Context context, int resource, List<T> objects) { throw new RuntimeException("Stub!"); }
    public ArrayAdapter(Context context, int resource, T[] objects) { throw new RuntimeException("Stub!"); }
    @Override public int getCount() { throw new RuntimeException("Stub!"); }
    @Override public T getItem(int position) { throw new RuntimeException("Stub!"); }
}
