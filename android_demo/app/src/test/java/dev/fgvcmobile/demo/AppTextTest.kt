package dev.fgvcmobile.demo

import dev.fgvcmobile.core.FgvcException
import dev.fgvcmobile.core.LatencyStats
import dev.fgvcmobile.core.Prediction
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Test
import java.io.IOException
import java.util.Locale
import java.util.concurrent.ExecutionException

class AppTextTest {
    @Test
    fun modelStatusNamesPassesOnlyWhenThereAreSeveral() {
        assertEquals(
            "model_int8.tflite · CPU (XNNPACK) · 4 threads · loaded in 41.5 ms",
            AppText.modelStatus("model_int8.tflite", 1, Accelerator.XNNPACK, 4, 41.46),
        )
        assertEquals(
            "cmal.tflite · 2 passes · GPU delegate · 1 threads · loaded in 3.0 ms",
            AppText.modelStatus("cmal.tflite", 2, Accelerator.GPU, 1, 3.0),
        )
    }

    @Test
    fun resultIsTopKThenTimes() {
        val top = listOf(Prediction(3, "Cardinal", 0.873), Prediction(0, "Blue Jay", 0.05))
        assertEquals(
            "1. Cardinal  87.3%\n2. Blue Jay  5.0%\n\ninference 12.3 ms · preprocess 4.5 ms",
            AppText.result(top, 12.34, 4.46),
        )
    }

    @Test
    fun textsDoNotDependOnTheDefaultLocale() {
        val saved = Locale.getDefault()
        try {
            Locale.setDefault(Locale.GERMANY) // decimal comma
            assertEquals("m · CPU (built-in kernels) · 2 threads · loaded in 1.5 ms", AppText.modelStatus("m", 1, Accelerator.CPU, 2, 1.5))
        } finally {
            Locale.setDefault(saved)
        }
    }

    @Test
    fun benchmarkTexts() {
        val request = BenchmarkRequest(10, 50, 4, Accelerator.XNNPACK)
        assertEquals("Benchmarking CPU (XNNPACK) · 4 threads: 10 warm-up + 50 timed runs…", AppText.benchmarkStarted(request))
        val stats = LatencyStats.of(doubleArrayOf(10.0, 11.0, 12.0, 13.0))
        assertEquals(
            "CPU (XNNPACK) · 4 threads · init 41.5 ms · first 18.3 ms\n" +
                "mean 11.50 · p50 11.50 · p90 12.70 · p99 12.97 ms (50 runs)\n/x/bench.json",
            AppText.benchmarkSummary(request, 41.5, 18.25, stats, "/x/bench.json"),
        )
    }

    @Test
    fun failuresAreOneLineAndNeverEmpty() {
        assertEquals("Loading the model failed: label count 3 != 200", AppText.failure("Loading the model", FgvcException("label count 3 != 200\nmore")))
        assertEquals("Classifying the photo failed: not enough memory", AppText.failure("Classifying the photo", OutOfMemoryError("Failed to allocate")))
        assertEquals("X failed: IOException: bad header", AppText.failure("X", IOException("\n bad header \nat line 2")))
        assertEquals("X failed: IllegalStateException", AppText.failure("X", IllegalStateException()))
        // the cause's message when the wrapper has none (CameraX's ExecutionException)
        assertEquals(
            "Starting the camera failed: IllegalArgumentException: no back camera",
            AppText.failure("Starting the camera", ExecutionException(IllegalArgumentException("no back camera"))),
        )
        val anonymous = object : RuntimeException() {}
        assertFalse(AppText.failure("X", anonymous).endsWith(": "))
    }
}
