package dev.fgvcmobile.demo

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import dev.fgvcmobile.core.Json
import java.io.FileNotFoundException
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test
import org.junit.runner.RunWith

/**
 * On a device or emulator (./gradlew connectedAndroidTest), not on the project's CI: the model
 * in the app's assets must turn the golden image into exactly Python's input tensor and
 * classify it to the label Python's LiteRT run gave. The golden files come from
 *   python -m fgvc_mobile.export.android_assets MODEL.tflite MODEL.manifest.json \
 *       android_demo/app/src/main/assets --golden-image some_bird.jpg
 * which writes app/src/androidTest/assets/golden/{golden.png,golden_input.bin,golden.json}.
 */
@RunWith(AndroidJUnit4::class)
class GoldenImageTest {
    private val instrumentation = InstrumentationRegistry.getInstrumentation()

    private fun golden(name: String): ByteArray = try {
        instrumentation.context.assets.open("golden/$name").use { it.readBytes() }
    } catch (e: FileNotFoundException) {
        throw AssertionError(
            "androidTest asset golden/$name is missing: write it with python -m fgvc_mobile.export.android_assets " +
                "MODEL MANIFEST android_demo/app/src/main/assets --golden-image IMAGE"
        )
    }

    @Test
    fun goldenImageGivesPythonsTensorAndLabel() {
        val expected = Json.parse(String(golden("golden.json"), Charsets.UTF_8)) as Map<*, *>
        val png = golden(expected["image"] as String)
        val options = BitmapFactory.Options().apply {
            inPreferredConfig = Bitmap.Config.ARGB_8888
            inScaled = false
        }
        val bitmap = BitmapFactory.decodeByteArray(png, 0, png.size, options)
        val image = BitmapPixels.toRgbImage(bitmap)
        val settings = FgvcClassifier.Settings(threads = 1, accelerator = Accelerator.XNNPACK)
        FgvcClassifier.create(instrumentation.targetContext, settings).use { classifier ->
            assertEquals("the app's model is not the one the golden files were made with",
                expected["model_file"], classifier.manifest.modelFile)
            assertArrayEquals("input tensor differs from Python's",
                golden(expected["input_tensor"] as String), classifier.inputTensorBytes(image))
            val result = classifier.classify(image)
            assertEquals(expected["expected_label"], result.top[0].label)
        }
    }
}
