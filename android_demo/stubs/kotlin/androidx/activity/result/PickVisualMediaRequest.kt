// Compile-only signature stub (android_demo/stubs/README.md): declares signatures, no behaviour.
// Used only by check_app.sh to compile the app's Kotlin on CI; never on the Gradle classpath.
package androidx.activity.result

import androidx.activity.result.contract.ActivityResultContracts.PickVisualMedia

class PickVisualMediaRequest internal constructor()

fun PickVisualMediaRequest(
    mediaType: PickVisualMedia.VisualMediaType = PickVisualMedia.ImageAndVideo,
): PickVisualMediaRequest = throw UnsupportedOperationException("compile-only signature stub")
