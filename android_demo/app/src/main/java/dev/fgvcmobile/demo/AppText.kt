package dev.fgvcmobile.demo

import dev.fgvcmobile.core.FgvcException
import dev.fgvcmobile.core.LatencyStats
import dev.fgvcmobile.core.Prediction
import java.util.Locale

/** Every text the activity shows, built without Android so the JVM tests can check it. */
object AppText {

    /** "model_int8.tflite · 2 passes · CPU (XNNPACK) · 4 threads · loaded in 41.5 ms" */
    fun modelStatus(modelFile: String, backbonePasses: Int, accelerator: Accelerator, threads: Int, loadMs: Double): String {
        val passes = if (backbonePasses > 1) " · $backbonePasses passes" else ""
        return String.format(
            Locale.ROOT, "%s%s · %s · %d threads · loaded in %.1f ms",
            modelFile, passes, accelerator.label, threads, loadMs,
        )
    }

    /** The top-k lines, a blank line, then the times. */
    fun result(top: List<Prediction>, inferenceMs: Double, preprocessMs: Double): String =
        Prediction.format(top) + "\n\n" + Prediction.formatTimes(inferenceMs, preprocessMs)

    fun benchmarkStarted(request: BenchmarkRequest): String = String.format(
        Locale.ROOT, "Benchmarking %s · %d threads: %d warm-up + %d timed runs…",
        request.accelerator.label, request.threads, request.warmup, request.runs,
    )

    fun benchmarkSummary(
        request: BenchmarkRequest, loadMs: Double, firstInferenceMs: Double, latency: LatencyStats, reportPath: String,
    ): String = String.format(
        Locale.ROOT,
        "%s · %d threads · init %.1f ms · first %.1f ms\nmean %.2f · p50 %.2f · p90 %.2f · p99 %.2f ms (%d runs)\n%s",
        request.accelerator.label, request.threads, loadMs, firstInferenceMs,
        latency.mean, latency.p50, latency.p90, latency.p99, request.runs, reportPath,
    )

    /**
     * One line for any failure of [action] ("Loading the model", "Classifying the image", ...):
     * the core's own message for a refused model, a plain word for memory, otherwise the
     * exception's type and the first line of its message. Never empty, never a stack trace.
     */
    fun failure(action: String, error: Throwable): String {
        val detail = when (error) {
            is FgvcException -> firstLine(error.message) ?: "refused"
            is OutOfMemoryError -> "not enough memory"
            else -> {
                // skip wrappers that only repeat their cause (ExecutionException(cause) and the like)
                var cause = error
                while (cause.cause != null && cause.cause !== cause && (cause.message == null || cause.message == cause.cause.toString())) {
                    cause = cause.cause!!
                }
                val type = cause.javaClass.simpleName.ifEmpty { cause.javaClass.name }
                firstLine(cause.message)?.let { "$type: $it" } ?: type
            }
        }
        return "$action failed: $detail"
    }

    private fun firstLine(message: String?): String? =
        message?.lineSequence()?.map { it.trim() }?.firstOrNull { it.isNotEmpty() }
}
