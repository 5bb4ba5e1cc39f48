// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package androidx.test.platform.app;

import android.app.Instrumentation;

public final class InstrumentationRegistry {
    private InstrumentationRegistry() { throw new RuntimeException("Stub!"); }
    public static Instrumentation getInstrumentation() { throw new RuntimeException("Stub!"); }
}
