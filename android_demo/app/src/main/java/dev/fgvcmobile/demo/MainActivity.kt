package dev.fgvcmobile.demo

import android.Manifest as AndroidManifest
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.ColorSpace
import android.graphics.ImageDecoder
import android.net.Uri
import android.os.Bundle
import android.util.Log
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.ImageView
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import dev.fgvcmobile.core.FgvcException
import dev.fgvcmobile.core.Prediction
import dev.fgvcmobile.core.RgbImage
import java.io.IOException
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Camera or gallery image -> top-5 species with scores and times; threads and delegate are
 * selectable; "Benchmark" times N inferences and writes a JSON report.
 *
 * Threading: every use of [FgvcClassifier] (create, classify, benchmark, close) runs on the
 * single [inference] thread, which is also CameraX's analyzer executor.
 *
 * Benchmark from adb (the harness's adb backend uses this):
 *   adb shell am start -n dev.fgvcmobile.demo/.MainActivity --ez benchmark true \
 *       --ei warmup 10 --ei runs 50 --ei threads 4 --es delegate xnnpack
 * The report path is logged under tag FgvcBench.
 */
class MainActivity : ComponentActivity() {

    private val inference: ExecutorService = Executors.newSingleThreadExecutor()

    // confined to the inference thread
    private var classifier: FgvcClassifier? = null
    private var lastImage: RgbImage? = null

    // UI thread
    private var loadedSettings: FgvcClassifier.Settings? = null
    @Volatile private var benchmarking = false

    private lateinit var previewView: PreviewView
    private lateinit var stillView: ImageView
    private lateinit var acceleratorSpinner: Spinner
    private lateinit var threadsSpinner: Spinner
    private lateinit var errorView: TextView
    private lateinit var resultView: TextView
    private lateinit var statusView: TextView

    private val threadChoices = listOf(1, 2, 4, 6, 8)

    private val requestCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else showError("Camera permission denied: pick a gallery image instead")
    }

    private val pickImage = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        if (uri != null) classifyUri(uri)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        previewView = findViewById(R.id.preview)
        stillView = findViewById(R.id.still)
        acceleratorSpinner = findViewById(R.id.accelerator)
        threadsSpinner = findViewById(R.id.threads)
        errorView = findViewById(R.id.error)
        resultView = findViewById(R.id.results)
        statusView = findViewById(R.id.status)

        acceleratorSpinner.adapter = ArrayAdapter(
            this, android.R.layout.simple_spinner_dropdown_item, FgvcClassifier.Accelerator.entries.map { it.label }
        )
        threadsSpinner.adapter = ArrayAdapter(
            this, android.R.layout.simple_spinner_dropdown_item, threadChoices.map { "$it threads" }
        )
        threadsSpinner.setSelection(threadChoices.indexOf(4))
        val reload = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = loadClassifier(currentSettings())
            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
        acceleratorSpinner.onItemSelectedListener = reload
        threadsSpinner.onItemSelectedListener = reload

        findViewById<Button>(R.id.camera).setOnClickListener { ensureCamera() }
        findViewById<Button>(R.id.gallery).setOnClickListener {
            pickImage.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
        }
        findViewById<Button>(R.id.benchmark).setOnClickListener { runBenchmark(currentSettings(), warmup = 10, runs = 50) }

        loadClassifier(currentSettings())
        benchmarkFromIntent()
    }

    private fun currentSettings() = FgvcClassifier.Settings(
        threads = threadChoices[threadsSpinner.selectedItemPosition.coerceAtLeast(0)],
        accelerator = FgvcClassifier.Accelerator.entries[acceleratorSpinner.selectedItemPosition.coerceAtLeast(0)],
    )

    /** `am start ... --ez benchmark true [--ei warmup N --ei runs N --ei threads N --es delegate NAME]` */
    private fun benchmarkFromIntent() {
        val extras = intent?.extras ?: return
        if (!extras.getBoolean("benchmark", false)) return
        val delegateName = extras.getString("delegate", "xnnpack")
        val accelerator = FgvcClassifier.Accelerator.entries.firstOrNull { it.reportName == delegateName.lowercase(Locale.ROOT) }
        if (accelerator == null) {
            showError("Unknown delegate '$delegateName' (use xnnpack, cpu, gpu or nnapi)")
            return
        }
        val settings = FgvcClassifier.Settings(extras.getInt("threads", 4), accelerator)
        runBenchmark(settings, extras.getInt("warmup", 10), extras.getInt("runs", 50))
    }

    private fun loadClassifier(settings: FgvcClassifier.Settings) {
        if (settings == loadedSettings) return
        loadedSettings = settings
        inference.execute {
            classifier?.close()
            classifier = null
            try {
                val c = FgvcClassifier.create(this, settings)
                classifier = c
                ui {
                    errorView.visibility = View.GONE
                    val passes = if (c.manifest.backbonePasses > 1) " · ${c.manifest.backbonePasses} passes" else ""
                    statusView.text = String.format(
                        Locale.ROOT, "%s%s · %s · %d threads · loaded in %.1f ms",
                        c.manifest.modelFile, passes, settings.accelerator.label, settings.threads, c.loadMs
                    )
                }
            } catch (e: FgvcException) {
                ui {
                    loadedSettings = null
                    showError("Model refused: ${e.message}")
                }
            } catch (e: RuntimeException) {
                ui {
                    loadedSettings = null
                    showError("Cannot load the model: ${e.message}")
                }
            }
        }
    }

    private fun ensureCamera() {
        if (ContextCompat.checkSelfPermission(this, AndroidManifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            requestCamera.launch(AndroidManifest.permission.CAMERA)
        }
    }

    private fun startCamera() {
        stillView.visibility = View.GONE
        previewView.visibility = View.VISIBLE
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            val provider = future.get()
            val preview = Preview.Builder().build()
            preview.setSurfaceProvider(previewView.surfaceProvider)
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysis.setAnalyzer(inference) { proxy -> analyze(proxy) }
            provider.unbindAll()
            try {
                provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, preview, analysis)
            } catch (e: IllegalArgumentException) {
                showError("No back camera: ${e.message}")
            }
        }, ContextCompat.getMainExecutor(this))
    }

    private fun stopCamera() {
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({ future.get().unbindAll() }, ContextCompat.getMainExecutor(this))
    }

    /** Runs on the inference thread (CameraX analyzer executor). */
    private fun analyze(proxy: ImageProxy) {
        proxy.use {
            val c = classifier
            if (benchmarking || c == null) return
            val image = BitmapPixels.toRgbImage(it.toBitmap(), it.imageInfo.rotationDegrees)
            lastImage = image
            val result = c.classify(image)
            ui { showResult(result) }
        }
    }

    private fun classifyUri(uri: Uri) {
        stopCamera()
        inference.execute {
            try {
                val bitmap = decodeSoftwareSrgb(uri)
                val image = BitmapPixels.toRgbImage(bitmap)
                lastImage = image
                val c = classifier ?: throw FgvcException("No model loaded (see the message above)")
                val result = c.classify(image)
                ui {
                    previewView.visibility = View.GONE
                    stillView.visibility = View.VISIBLE
                    stillView.setImageBitmap(bitmap)
                    showResult(result)
                }
            } catch (e: IOException) {
                ui { showError("Cannot decode that image: ${e.message}") }
            } catch (e: FgvcException) {
                ui { showError(e.message ?: "classification failed") }
            }
        }
    }

    /**
     * A software ARGB_8888 bitmap in sRGB with EXIF orientation applied (ImageDecoder does it),
     * i.e. the pixels Python's load_rgb sees; hardware bitmaps cannot be read back.
     */
    private fun decodeSoftwareSrgb(uri: Uri): Bitmap =
        ImageDecoder.decodeBitmap(ImageDecoder.createSource(contentResolver, uri)) { decoder, _, _ ->
            decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
            decoder.setTargetColorSpace(ColorSpace.get(ColorSpace.Named.SRGB))
        }

    private fun runBenchmark(settings: FgvcClassifier.Settings, warmup: Int, runs: Int) {
        if (benchmarking) return
        benchmarking = true
        statusView.text = "Benchmarking: $warmup warm-up + $runs timed runs…"
        inference.execute {
            try {
                classifier?.close() // a fresh interpreter, so load and first-inference times are real
                classifier = null
                val fresh = FgvcClassifier.create(this, settings)
                classifier = fresh
                val size = fresh.manifest.preprocess
                val image = lastImage ?: BitmapPixels.syntheticImage(size.resizeW, size.resizeH)
                val row = fresh.benchmark(image, warmup, runs)
                row.peakRssMb = BenchmarkReporter.peakRssMb()
                val file = BenchmarkReporter.write(
                    this, listOf(row),
                    mapOf<String, Any?>(
                        "image" to (if (lastImage != null) "last camera/gallery image" else "synthetic"),
                        "timed" to "interpreter.run only (preprocessing excluded)",
                    ),
                )
                Log.i("FgvcBench", "report: ${file.absolutePath}")
                val l = row.latency
                ui {
                    loadedSettings = settings
                    errorView.visibility = View.GONE
                    statusView.text = String.format(
                        Locale.ROOT,
                        "%s · %d threads · init %.1f ms · first %.1f ms\nmean %.2f · p50 %.2f · p90 %.2f · p99 %.2f ms (%d runs)\n%s",
                        settings.accelerator.label, settings.threads, row.loadMs, row.firstInferenceMs,
                        l.mean, l.p50, l.p90, l.p99, runs, file.absolutePath,
                    )
                }
            } catch (e: FgvcException) {
                ui {
                    loadedSettings = null // nothing is loaded now; the next selection reloads
                    showError("Benchmark refused: ${e.message}")
                }
            } catch (e: IOException) {
                ui { showError("Cannot write the report: ${e.message}") }
            } finally {
                benchmarking = false
            }
        }
    }

    private fun showResult(result: FgvcClassifier.Classification) {
        errorView.visibility = View.GONE
        resultView.text = Prediction.format(result.top) + "\n\n" +
            Prediction.formatTimes(result.inferenceMs, result.preprocessMs)
    }

    private fun showError(message: String) {
        errorView.text = message
        errorView.visibility = View.VISIBLE
        resultView.text = ""
    }

    private fun ui(block: () -> Unit) = runOnUiThread { block() }

    override fun onDestroy() {
        super.onDestroy()
        inference.execute {
            classifier?.close()
            classifier = null
        }
        inference.shutdown()
    }
}
