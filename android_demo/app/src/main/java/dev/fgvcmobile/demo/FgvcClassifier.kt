package dev.fgvcmobile.demo

import android.content.Context
import android.os.SystemClock
import dev.fgvcmobile.core.BenchReport
import dev.fgvcmobile.core.FgvcException
import dev.fgvcmobile.core.LatencyStats
import dev.fgvcmobile.core.Manifest
import dev.fgvcmobile.core.ModelContract
import dev.fgvcmobile.core.OutputDecoder
import dev.fgvcmobile.core.Prediction
import dev.fgvcmobile.core.Preprocessor
import dev.fgvcmobile.core.Quant
import dev.fgvcmobile.core.RgbImage
import dev.fgvcmobile.core.TensorInfo
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import java.io.Closeable
import java.io.FileInputStream
import java.io.FileNotFoundException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/**
 * The only class that touches the LiteRT interpreter.
 *
 * Everything about the model's input and output comes from the model's own tensors and
 * assets/manifest.json, reconciled by the JVM core's [ModelContract]: input size, layout
 * (NHWC/NCHW), dtype (float32/uint8/int8), quantization, normalisation, output dequantization,
 * and labels. Nothing is hard-coded, so an int8 model with ImageNet mean/std works as well as
 * a float one. A model whose label count does not match its output is refused with a
 * [FgvcException] whose message the UI shows.
 *
 * Not thread-safe: create, use and close an instance on one thread (the GPU delegate requires it).
 */
class FgvcClassifier private constructor(
    val manifest: Manifest,
    val settings: Settings,
    val contract: ModelContract,
    /** Interpreter creation incl. delegate initialisation, ms (the model file is already mapped). */
    val loadMs: Double,
    private val modelSizeBytes: Long,
    private val interpreter: Interpreter,
    private val accelerator: AutoCloseable?,
) : Closeable {

    data class Settings(val threads: Int = 4, val accelerator: Accelerator = Accelerator.XNNPACK)

    data class Classification(val top: List<Prediction>, val preprocessMs: Double, val inferenceMs: Double)

    private val preprocessor = Preprocessor(manifest.preprocess, contract.input)
    private val decoder = OutputDecoder(contract.output)
    private val input: ByteBuffer =
        ByteBuffer.allocateDirect(contract.input.byteSize()).order(ByteOrder.nativeOrder())
    private val output: ByteBuffer =
        ByteBuffer.allocateDirect(contract.output.byteSize()).order(ByteOrder.nativeOrder())
    private var closed = false

    /** Preprocess [image] exactly as the manifest says, run the model, return the top [k] classes. */
    fun classify(image: RgbImage, k: Int = 5): Classification {
        val t0 = SystemClock.elapsedRealtimeNanos()
        fillInput(image)
        val t1 = SystemClock.elapsedRealtimeNanos()
        runOnce()
        val t2 = SystemClock.elapsedRealtimeNanos()
        output.rewind()
        val values = decoder.values(output)
        val top = Prediction.topK(values, decoder.scores(values), contract.labels, k)
        return Classification(top, (t1 - t0) / 1e6, (t2 - t1) / 1e6)
    }

    /** The exact input tensor for [image], little-endian (what Python's golden file holds). */
    fun inputTensorBytes(image: RgbImage): ByteArray = preprocessor.tensorBytes(image, ByteOrder.LITTLE_ENDIAN)

    /**
     * Time the interpreter alone (preprocessing excluded, like the host harness): one first
     * inference, [warmupRuns] untimed runs, then [runs] timed ones. Call it on a fresh instance
     * so that [loadMs] and the first inference mean what the report says.
     */
    fun benchmark(image: RgbImage, warmupRuns: Int, runs: Int): BenchReport.Row {
        require(warmupRuns >= 0 && runs >= 1) { "warmup must be >= 0 and runs >= 1" }
        fillInput(image)
        val first = timedRun()
        repeat(warmupRuns) { runOnce() }
        val samples = DoubleArray(runs) { timedRun() }
        val row = BenchReport.Row()
        row.artifact = manifest.modelFile
        row.precision = manifest.precision
        row.method = manifest.method
        row.backbonePasses = manifest.backbonePasses
        row.delegate = settings.accelerator.reportName
        row.threads = settings.threads
        row.inputSize = manifest.preprocess.inputSize
        row.sizeBytes = modelSizeBytes
        row.loadMs = loadMs
        row.firstInferenceMs = first
        row.warmupRuns = warmupRuns
        row.runs = runs
        row.latency = LatencyStats.of(samples)
        return row
    }

    private fun fillInput(image: RgbImage) {
        check(!closed) { "classifier is closed" }
        input.clear()
        preprocessor.write(image, input)
        input.rewind()
    }

    private fun runOnce() {
        check(!closed) { "classifier is closed" }
        input.rewind()
        output.rewind()
        interpreter.run(input, output)
    }

    private fun timedRun(): Double {
        val t0 = SystemClock.elapsedRealtimeNanos()
        runOnce()
        return (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
    }

    override fun close() {
        if (!closed) {
            closed = true
            interpreter.close()
            accelerator?.close() // after the interpreter that uses it
        }
    }

    companion object {
        /** Asset names written by fgvc_mobile.export.android_assets (a Python test keeps them in sync). */
        const val MANIFEST_ASSET = "manifest.json"
        const val LABELS_ASSET = "labels.txt"

        /** Load assets/manifest.json and the model it names; refuse any mismatch with a one-line message. */
        fun create(context: Context, settings: Settings): FgvcClassifier {
            require(settings.threads >= 1) { "threads must be >= 1" }
            val manifestText = readAsset(context, MANIFEST_ASSET)
                ?: throw FgvcException(
                    "No model in the app: assets/$MANIFEST_ASSET is missing. Run `fgvc-mobile export ... " +
                        "--format tflite --android-assets android_demo/app/src/main/assets`, then rebuild."
                )
            val manifest = Manifest.parse(manifestText, "assets/$MANIFEST_ASSET")
            ModelContract.requireFormat(manifest, "tflite")
            manifest.labelsFile?.let { name ->
                val text = readAsset(context, name)
                    ?: throw FgvcException("assets/$MANIFEST_ASSET names labels file $name but it is not in the assets")
                manifest.checkLabelsFile(text, "assets/$name")
            }
            val model = mapModel(context, manifest.modelFile)

            val t0 = SystemClock.elapsedRealtimeNanos()
            var accelerator: AutoCloseable? = null
            val interpreter = try {
                val options = Interpreter.Options().setNumThreads(settings.threads)
                when (settings.accelerator) {
                    Accelerator.XNNPACK -> options.setUseXNNPACK(true)
                    Accelerator.CPU -> options.setUseXNNPACK(false)
                    Accelerator.GPU -> {
                        val gpu = CompatibilityList().use { compat ->
                            if (!compat.isDelegateSupportedOnThisDevice) {
                                throw FgvcException("The GPU delegate does not support this device's GPU; pick CPU (XNNPACK)")
                            }
                            GpuDelegate(compat.bestOptionsForThisDevice)
                        }
                        accelerator = gpu
                        options.addDelegate(gpu)
                    }
                }
                Interpreter(model, options)
            } catch (e: FgvcException) {
                accelerator?.close()
                throw e
            } catch (e: Throwable) { // Exception, or UnsatisfiedLinkError from a delegate's native library
                accelerator?.close()
                throw FgvcException(
                    "LiteRT could not load ${manifest.modelFile} with ${settings.accelerator.label}: " +
                        (e.message?.lineSequence()?.firstOrNull() ?: e.javaClass.simpleName), e
                )
            }
            val loadMs = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6

            try {
                if (interpreter.inputTensorCount != 1 || interpreter.outputTensorCount != 1) {
                    throw FgvcException(
                        "${manifest.modelFile} has ${interpreter.inputTensorCount} inputs and " +
                            "${interpreter.outputTensorCount} outputs; this app runs one image in, one row of scores out"
                    )
                }
                val contract = ModelContract.resolve(
                    manifest,
                    interpreter.getInputTensor(0).info(),
                    interpreter.getOutputTensor(0).info(),
                    manifest.modelFile,
                )
                return FgvcClassifier(manifest, settings, contract, loadMs, model.capacity().toLong(), interpreter, accelerator)
            } catch (e: Exception) {
                interpreter.close()
                accelerator?.close()
                throw e
            }
        }

        private fun Tensor.info(): TensorInfo {
            val type = when (dataType()) {
                DataType.FLOAT32 -> "float32"
                DataType.UINT8 -> "uint8"
                DataType.INT8 -> "int8"
                else -> dataType().toString().lowercase()
            }
            val q = quantizationParams()
            return TensorInfo(type, shape(), Quant.ofRuntime(q.scale, q.zeroPoint))
        }

        private fun readAsset(context: Context, name: String): String? = try {
            context.assets.open(name).bufferedReader(Charsets.UTF_8).use { it.readText() }
        } catch (e: FileNotFoundException) {
            null
        }

        /** Memory-map the model from the APK (stored uncompressed: see androidResources.noCompress). */
        private fun mapModel(context: Context, name: String): MappedByteBuffer {
            if (context.assets.list("")?.contains(name) != true) {
                throw FgvcException("assets/$name (the manifest's model_file) is missing; copy the model with the asset step again")
            }
            val fd = try {
                context.assets.openFd(name)
            } catch (e: FileNotFoundException) {
                throw FgvcException("assets/$name is compressed in the APK; keep `noCompress += \"tflite\"` in app/build.gradle.kts")
            }
            return fd.use {
                FileInputStream(it.fileDescriptor).channel.use { channel ->
                    channel.map(FileChannel.MapMode.READ_ONLY, it.startOffset, it.declaredLength)
                }
            }
        }
    }
}
