// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android;

public final class R {
    public static final class layout {
        public static final int simple_spinner_dropdown_item = 17367049;
    }
}
