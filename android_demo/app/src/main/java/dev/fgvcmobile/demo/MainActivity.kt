package dev.fgvcmobile.demo

import android.Manifest as AndroidManifest
import android.content.Intent
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
import androidx.activity.enableEdgeToEdge
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import androidx.core.view.ViewCompat
import androidx.core.view.WindowInsetsCompat
import dev.fgvcmobile.core.FgvcException
import dev.fgvcmobile.core.RgbImage
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.RejectedExecutionException
import java.util.concurrent.atomic.AtomicInteger

/**
 * Camera or gallery image -> top-5 species with scores and times; threads and delegate are
 * selectable; "Benchmark" times N inferences and writes a JSON report.
 *
 * Threading: every use of [FgvcClassifier] (create, classify, benchmark, close) runs on the
 * single [inference] thread, which is also CameraX's analyzer executor. Every task on it goes
 * through [onInference], which turns any exception or error (a refused model, a decoder
 * failure, a LiteRT error, out of memory) into a message on screen: nothing that happens on a
 * phone crashes the process.
 *
 * Benchmark from adb (launchMode singleTop: an intent to the running activity arrives in
 * [onNewIntent] and is queued after the one in progress):
 *   adb shell am start -n dev.fgvcmobile.demo/.MainActivity --ez benchmark true \
 *       --ei warmup 10 --ei runs 50 --ei threads 4 --es delegate xnnpack
 * The report path is logged under tag FgvcBench.
 */
class MainActivity : ComponentActivity() {

    private val inference: ExecutorService = Executors.newSingleThreadExecutor { r -> Thread(r, "fgvc-inference") }

    // confined to the inference thread
    private var classifier: FgvcClassifier? = null
    private var lastImage: RgbImage? = null
    private val frames = FrameConverter()
    private var frameErrorShown = false

    // UI thread
    private var loadedSettings: FgvcClassifier.Settings? = null
    private val benchmarksPending = AtomicInteger(0)
    private var analysis: ImageAnalysis? = null

    private lateinit var previewView: PreviewView
    private lateinit var stillView: ImageView
    private lateinit var acceleratorSpinner: Spinner
    private lateinit var threadsSpinner: Spinner
    private lateinit var errorView: TextView
    private lateinit var resultView: TextView
    private lateinit var statusView: TextView

    private val threadChoices = listOf(1, 2, 4, 6, 8)

    private val requestCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        when {
            granted -> startCamera()
            shouldShowRequestPermissionRationale(AndroidManifest.permission.CAMERA) ->
                showError("Camera permission denied: pick a photo from the gallery, or press Camera again to allow it")
            else -> showError(
                "Camera permission denied: pick a photo from the gallery, or allow the camera in " +
                    "Settings > Apps > ${getString(R.string.app_name)} > Permissions"
            )
        }
    }

    private val pickImage = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        if (uri != null) classifyUri(uri)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge() // targetSdk 36 draws edge to edge anyway; this makes API 28-34 do the same
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        applySystemBarInsets(findViewById(R.id.root))
        previewView = findViewById(R.id.preview)
        stillView = findViewById(R.id.still)
        acceleratorSpinner = findViewById(R.id.accelerator)
        threadsSpinner = findViewById(R.id.threads)
        errorView = findViewById(R.id.error)
        resultView = findViewById(R.id.results)
        statusView = findViewById(R.id.status)

        acceleratorSpinner.adapter = ArrayAdapter(
            this, android.R.layout.simple_spinner_dropdown_item, Accelerator.entries.map { it.label }
        )
        threadsSpinner.adapter = ArrayAdapter(
            this, android.R.layout.simple_spinner_dropdown_item, threadChoices.map { "$it threads" }
        )
        threadsSpinner.setSelection(threadChoices.indexOf(BenchmarkRequest.DEFAULT_THREADS))
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
        findViewById<Button>(R.id.benchmark).setOnClickListener {
            val s = currentSettings()
            runBenchmark(BenchmarkRequest(threads = s.threads, accelerator = s.accelerator))
        }

        loadClassifier(currentSettings())
        // a recreated activity (e.g. after a configuration change) must not re-run the intent's benchmark
        if (savedInstanceState == null) handleIntent(intent)
    }

    /** A benchmark intent sent while the activity runs (launchMode singleTop). */
    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        setIntent(intent)
        handleIntent(intent)
    }

    /** Pads the layout by the system bars and display cutout, so nothing is drawn under them. */
    private fun applySystemBarInsets(root: View) {
        val left = root.paddingLeft
        val top = root.paddingTop
        val right = root.paddingRight
        val bottom = root.paddingBottom
        ViewCompat.setOnApplyWindowInsetsListener(root) { view, insets ->
            val bars = insets.getInsets(WindowInsetsCompat.Type.systemBars() or WindowInsetsCompat.Type.displayCutout())
            view.setPadding(left + bars.left, top + bars.top, right + bars.right, bottom + bars.bottom)
            WindowInsetsCompat.CONSUMED
        }
    }

    private fun currentSettings() = FgvcClassifier.Settings(
        threads = threadChoices[threadsSpinner.selectedItemPosition.coerceIn(0, threadChoices.size - 1)],
        accelerator = Accelerator.entries[acceleratorSpinner.selectedItemPosition.coerceIn(0, Accelerator.entries.size - 1)],
    )

    /** `am start ... --ez benchmark true [--ei warmup N --ei runs N --ei threads N --es delegate NAME]` */
    private fun handleIntent(intent: Intent?) {
        val parsed = try {
            val extras = intent?.extras ?: return
            BenchmarkRequest.parse { key -> @Suppress("DEPRECATION") extras.get(key) }
        } catch (e: RuntimeException) { // e.g. BadParcelableException from a malformed extra
            BenchmarkRequest.Parsed.Invalid(AppText.failure("Reading the intent", e))
        }
        when (parsed) {
            BenchmarkRequest.Parsed.NotRequested -> Unit
            is BenchmarkRequest.Parsed.Invalid -> {
                Log.w(BENCH_TAG, parsed.message)
                showError(parsed.message)
            }
            is BenchmarkRequest.Parsed.Valid -> runBenchmark(parsed.request)
        }
    }

    /**
     * Run [block] on the inference thread. Whatever it throws (exception or error) is logged and
     * shown as one line; [onFailure] then runs on the UI thread. Tasks submitted while the
     * activity is being destroyed are dropped.
     */
    private fun onInference(action: String, tag: String = TAG, onFailure: () -> Unit = {}, block: () -> Unit) {
        try {
            inference.execute {
                try {
                    block()
                } catch (t: Throwable) {
                    Log.e(tag, "$action failed", t)
                    val message = AppText.failure(action, t)
                    ui {
                        onFailure()
                        showError(message)
                    }
                }
            }
        } catch (e: RejectedExecutionException) {
            Log.w(tag, "$action dropped: the activity is closing")
        }
    }

    private fun loadClassifier(settings: FgvcClassifier.Settings) {
        if (settings == loadedSettings) return
        loadedSettings = settings
        onInference("Loading the model", onFailure = { loadedSettings = null }) {
            classifier?.close()
            classifier = null
            val c = FgvcClassifier.create(this, settings)
            classifier = c
            frameErrorShown = false
            val status = AppText.modelStatus(c.manifest.modelFile, c.manifest.backbonePasses, settings.accelerator, settings.threads, c.loadMs)
            ui {
                errorView.visibility = View.GONE
                statusView.text = status
            }
        }
    }

    private fun ensureCamera() {
        if (!packageManager.hasSystemFeature(PackageManager.FEATURE_CAMERA_ANY)) {
            showError("This device has no camera: pick a photo from the gallery")
        } else if (ContextCompat.checkSelfPermission(this, AndroidManifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            requestCamera.launch(AndroidManifest.permission.CAMERA)
        }
    }

    /** Binds preview + analysis; any camera failure (no back camera, camera service error) is shown, not thrown. */
    private fun startCamera() {
        withCameraProvider("Starting the camera") { provider ->
            val preview = Preview.Builder().build()
            preview.setSurfaceProvider(previewView.surfaceProvider)
            val useCase = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            useCase.setAnalyzer(inference) { proxy -> analyze(proxy) }
            analysis?.clearAnalyzer()
            analysis = useCase
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, preview, useCase)
            stillView.visibility = View.GONE
            previewView.visibility = View.VISIBLE
        }
    }

    private fun stopCamera() {
        withCameraProvider("Stopping the camera") { provider -> provider.unbindAll() }
    }

    private fun withCameraProvider(action: String, block: (ProcessCameraProvider) -> Unit) {
        try {
            val future = ProcessCameraProvider.getInstance(this)
            future.addListener({
                try {
                    block(future.get())
                } catch (e: Exception) {
                    Log.e(TAG, "$action failed", e)
                    showError(AppText.failure(action, e))
                }
            }, ContextCompat.getMainExecutor(this))
        } catch (e: Exception) {
            Log.e(TAG, "$action failed", e)
            showError(AppText.failure(action, e))
        }
    }

    /**
     * Runs on the inference thread (CameraX's analyzer executor). The frame is converted into
     * [frames]' reused buffer: no per-frame Bitmap or array. An error is shown once (not on
     * every frame) until a model is loaded again; the frame is always closed.
     */
    private fun analyze(proxy: ImageProxy) {
        try {
            val c = classifier
            if (benchmarksPending.get() > 0 || c == null) return
            val plane = proxy.planes[0]
            val image = frames.convert(plane.buffer, proxy.width, proxy.height, plane.rowStride, proxy.imageInfo.rotationDegrees)
            lastImage = image
            val result = c.classify(image)
            val text = AppText.result(result.top, result.inferenceMs, result.preprocessMs)
            ui { showResult(text) }
        } catch (t: Throwable) {
            Log.e(TAG, "Classifying a camera frame failed", t)
            if (!frameErrorShown) {
                frameErrorShown = true
                val message = AppText.failure("Classifying a camera frame", t)
                ui { showError(message) }
            }
        } finally {
            proxy.close()
        }
    }

    private fun classifyUri(uri: Uri) {
        stopCamera()
        onInference("Classifying the photo") {
            val size = classifier?.manifest?.preprocess
            val bitmap = decodeForModel(uri, size?.resizeW ?: FALLBACK_SIZE, size?.resizeH ?: FALLBACK_SIZE)
            val image = BitmapPixels.toRgbImage(bitmap)
            lastImage = image
            val c = classifier ?: throw FgvcException("no model is loaded (see the message above)")
            val result = c.classify(image)
            val text = AppText.result(result.top, result.inferenceMs, result.preprocessMs)
            ui {
                previewView.visibility = View.GONE
                stillView.visibility = View.VISIBLE
                stillView.setImageBitmap(bitmap)
                showResult(text)
            }
        }
    }

    /**
     * A software ARGB_8888 bitmap in sRGB with EXIF orientation applied (ImageDecoder does it),
     * i.e. the pixels Python's load_rgb sees (hardware bitmaps cannot be read back), subsampled
     * while decoding to what the model needs ([DecodeSize]) so a 48-MP photo does not exhaust memory.
     */
    private fun decodeForModel(uri: Uri, needWidth: Int, needHeight: Int): Bitmap =
        ImageDecoder.decodeBitmap(ImageDecoder.createSource(contentResolver, uri)) { decoder, info, _ ->
            decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
            decoder.setTargetColorSpace(ColorSpace.get(ColorSpace.Named.SRGB))
            decoder.setTargetSampleSize(DecodeSize.sampleSize(info.size.width, info.size.height, needWidth, needHeight))
        }

    /** Queued behind any benchmark in progress; camera frames are skipped until all are done. */
    private fun runBenchmark(request: BenchmarkRequest) {
        benchmarksPending.incrementAndGet()
        statusView.text = AppText.benchmarkStarted(request)
        val settings = FgvcClassifier.Settings(request.threads, request.accelerator)
        onInference("Benchmark", tag = BENCH_TAG, onFailure = { loadedSettings = null }) {
            try {
                classifier?.close() // a fresh interpreter, so load and first-inference times are real
                classifier = null
                val fresh = FgvcClassifier.create(this, settings)
                classifier = fresh
                val size = fresh.manifest.preprocess
                val image = lastImage ?: BitmapPixels.syntheticImage(size.resizeW, size.resizeH)
                val row = fresh.benchmark(image, request.warmup, request.runs)
                row.peakRssMb = BenchmarkReporter.peakRssMb()
                val file = BenchmarkReporter.write(
                    this, listOf(row),
                    mapOf<String, Any?>(
                        "image" to (if (lastImage != null) "last camera/gallery image" else "synthetic"),
                        "timed" to "interpreter.run only (preprocessing excluded)",
                    ),
                )
                Log.i(BENCH_TAG, "report: ${file.absolutePath}")
                val summary = AppText.benchmarkSummary(request, row.loadMs, row.firstInferenceMs, row.latency, file.absolutePath)
                ui {
                    loadedSettings = settings
                    errorView.visibility = View.GONE
                    statusView.text = summary
                }
            } finally {
                benchmarksPending.decrementAndGet()
            }
        }
    }

    private fun showResult(text: String) {
        errorView.visibility = View.GONE
        resultView.text = text
    }

    private fun showError(message: String) {
        errorView.text = message
        errorView.visibility = View.VISIBLE
        resultView.text = ""
    }

    private fun ui(block: () -> Unit) = runOnUiThread {
        if (!isDestroyed) block()
    }

    override fun onDestroy() {
        super.onDestroy()
        analysis?.clearAnalyzer() // no frame may reach the executor after its shutdown
        analysis = null
        onInference("Closing the model") {
            classifier?.close()
            classifier = null
        }
        inference.shutdown()
    }

    private companion object {
        const val TAG = "FgvcDemo"
        const val BENCH_TAG = "FgvcBench"

        /** Model resize used to size the decode when no model is loaded (the photo is then not classified anyway). */
        const val FALLBACK_SIZE = 512
    }
}
