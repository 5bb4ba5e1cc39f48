// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package androidx.core.view;

import androidx.core.graphics.Insets;

public class WindowInsetsCompat {
    public static final WindowInsetsCompat CONSUMED = null;

    private WindowInsetsCompat() { throw new RuntimeException("Stub!"); }
    public Insets getInsets(int typeMask) { throw new RuntimeException("Stub!"); }

    public static final class Type {
        private Type() { throw new RuntimeException("Stub!"); }
        public static int statusBars() { throw new RuntimeException("Stub!"); }
        public static int navigationBars() { throw new RuntimeException("Stub!"); }
        public static int systemBars() { throw new RuntimeException("Stub!"); }
        public static int displayCutout() { throw new RuntimeException("Stub!"); }
    }
}
