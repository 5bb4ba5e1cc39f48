// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
@file:JvmName("EdgeToEdge")

package androidx.activity

class SystemBarStyle private constructor()

@JvmName("enable")
@JvmOverloads
fun ComponentActivity.enableEdgeToEdge(
    statusBarStyle: SystemBarStyle = stub(),
    navigationBarStyle: SystemBarStyle = stub(),
): Unit = stub()
