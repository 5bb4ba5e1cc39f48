// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package android.os;

public final class SystemClock {
    private SystemClock() { throw new RuntimeException("Stub!"); }
    public static long elapsedRealtimeNanos() { throw new RuntimeException("Stub!"); }
    public static long elapsedRealtime() { throw new RuntimeException("Stub!"); }
}
