// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.os;

public class Build {
    public static final String MANUFACTURER = null;
    public static final String MODEL = null;
    public static final String HARDWARE = null;
    public static final String SOC_MANUFACTURER = null;
    public static final String SOC_MODEL = null;
    public static final String[] SUPPORTED_ABIS = null;

    public static class VERSION {
        public static final String RELEASE = null;
        public static final int SDK_INT = 0;
    }
}
