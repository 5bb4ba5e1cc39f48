// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.widget;

public abstract class AbsSpinner extends AdapterView<SpinnerAdapter> {
    @Override public SpinnerAdapter getAdapter() { throw new RuntimeException("Stub!"); }
    @Override public void setAdapter(SpinnerAdapter adapter) { throw new RuntimeException("Stub!"); }
    @Override public void setSelection(int position) { throw new RuntimeException("Stub!"); }
}
