// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.widget;

import android.view.View;
import android.view.ViewGroup;

public abstract class AdapterView<T extends Adapter> extends ViewGroup {
    public interface OnItemSelectedListener {
        void onItemSelected(AdapterView<?> parent, View view, int position, long id);
        void onNothingSelected(AdapterView<?> parent);
    }

    public void setOnItemSelectedListener(OnItemSelectedListener listener) { throw new RuntimeException("Stub!"); }
    public final OnItemSelectedListener getOnItemSelectedListener() { throw new RuntimeException("Stub!"); }
    public int getSelectedItemPosition() { throw new RuntimeException("Stub!"); }
    public abstract T getAdapter();
    public abstract void setAdapter(T adapter);
    public abstract void setSelection(int position);
}
