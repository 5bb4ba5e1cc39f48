package dev.fgvcmobile.demo

import android.content.Context
import android.os.Build
import dev.fgvcmobile.core.BenchReport
import java.io.File
import java.io.IOException
import java.util.Date

/** Writes the benchmark report (harness schema v1) where `adb pull` can fetch it. */
object BenchmarkReporter {

    fun machine(): BenchReport.Machine {
        val m = BenchReport.Machine()
        m.manufacturer = Build.MANUFACTURER
        m.model = Build.MODEL
        m.soc = if (Build.VERSION.SDK_INT >= 31) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}" else Build.HARDWARE
        m.abi = Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown"
        m.androidRelease = Build.VERSION.RELEASE
        m.sdkInt = Build.VERSION.SDK_INT
        m.cores = Runtime.getRuntime().availableProcessors()
        m.runtimeVersion = BuildConfig.LITERT_VERSION
        return m
    }

    /** The process's peak resident set (VmHWM in /proc/self/status), MiB; null if unreadable. */
    fun peakRssMb(): Double? = try {
        File("/proc/self/status").readLines()
            .firstOrNull { it.startsWith("VmHWM:") }
            ?.split(Regex("\\s+"))?.getOrNull(1)?.toDoubleOrNull()
            ?.div(1024.0)
    } catch (e: IOException) {
        null
    }

    /**
     * Write rows to <external files>/bench/bench-<UTC time>.json, i.e.
     * /sdcard/Android/data/dev.fgvcmobile.demo/files/bench/ (adb pull; no permission needed).
     */
    fun write(context: Context, rows: List<BenchReport.Row>, settings: Map<String, Any?>): File {
        val now = Date()
        val json = BenchReport.toJson(
            machine(), rows, "fgvc-mobile-android ${BuildConfig.VERSION_NAME}", BenchReportFiles.created(now), settings,
        )
        val dir = File(context.getExternalFilesDir(null) ?: context.filesDir, "bench")
        return BenchReportFiles.write(dir, json, now)
    }
}
