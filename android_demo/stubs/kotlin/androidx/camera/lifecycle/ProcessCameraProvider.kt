// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package androidx.camera.lifecycle

import android.content.Context
import androidx.camera.core.Camera
import androidx.camera.core.CameraSelector
import androidx.camera.core.UseCase
import androidx.lifecycle.LifecycleOwner
import com.google.common.util.concurrent.ListenableFuture

class ProcessCameraProvider private constructor() {
    fun bindToLifecycle(lifecycleOwner: LifecycleOwner, cameraSelector: CameraSelector, vararg useCases: UseCase?): Camera =
        throw UnsupportedOperationException("compile-only signature stub")

    fun unbindAll(): Unit = throw UnsupportedOperationException("compile-only signature stub")

    companion object {
        @JvmStatic
        fun getInstance(context: Context): ListenableFuture<ProcessCameraProvider> =
            throw UnsupportedOperationException("compile-only signature stub")
    }
}
