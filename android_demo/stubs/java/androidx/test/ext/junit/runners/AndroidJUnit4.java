// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package androidx.test.ext.junit.runners;

import org.junit.runner.Description;
import org.junit.runner.Runner;
import org.junit.runner.notification.RunNotifier;

public final class AndroidJUnit4 extends Runner {
    public AndroidJUnit4(Class<?> klass) { throw new RuntimeException("Stub!"); }
    @Override public Description getDescription() { throw new RuntimeException("Stub!"); }
    @Override public void run(RunNotifier notifier) { throw new RuntimeException("Stub!"); }
}
