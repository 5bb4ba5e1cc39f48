package dev.fgvcmobile.demo

/**
 * Where the model runs; [reportName] is the benchmark report's "delegate" value and the
 * benchmark intent's `--es delegate` value.
 *
 * NNAPI is not offered: Android 15 deprecates it and LiteRT's NnApiDelegate with it; the GPU
 * delegate and XNNPACK cover what it did for this model. (The host harness's adb backend, which
 * runs TFLite's benchmark_model, still measures NNAPI where a phone has it.)
 */
enum class Accelerator(val label: String, val reportName: String) {
    XNNPACK("CPU (XNNPACK)", "xnnpack"),
    CPU("CPU (built-in kernels)", "cpu"),
    GPU("GPU delegate", "gpu"),
    ;

    companion object {
        /** The accelerator whose [reportName] is [name] (case-insensitive), or null. */
        fun fromReportName(name: String): Accelerator? =
            entries.firstOrNull { it.reportName.equals(name.trim(), ignoreCase = true) }

        /** "xnnpack, cpu or gpu" */
        fun choices(): String = entries.map { it.reportName }.let { names ->
            names.dropLast(1).joinToString(", ") + " or " + names.last()
        }
    }
}
