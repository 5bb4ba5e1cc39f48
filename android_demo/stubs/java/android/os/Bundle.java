// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.os;

import java.util.Set;

public final class Bundle implements Cloneable {
    public Bundle() { throw new RuntimeException("Stub!"); }
    public boolean containsKey(String key) { throw new RuntimeException("Stub!"); }
    public Set<String> keySet() { throw new RuntimeException("Stub!"); }
    /** Deprecated in API 33 (use the type-safe getters), as in the real SDK. */
    @Deprecated
    public Object get(String key) { throw new RuntimeException("Stub!"); }
    public boolean getBoolean(String key, boolean defaultValue) { throw new RuntimeException("Stub!"); }
    public int getInt(String key, int defaultValue) { throw new RuntimeException("Stub!"); }
    public String getString(String key) { throw new RuntimeException("Stub!"); }
}
