package dev.fgvcmobile.demo

/**
 * A benchmark asked for by an intent, e.g.
 *   adb shell am start -n dev.fgvcmobile.demo/.MainActivity --ez benchmark true \
 *       --ei warmup 10 --ei runs 50 --ei threads 4 --es delegate xnnpack
 * Parsed from the intent's extras by [parse], which knows nothing of Android (the activity
 * passes a Bundle lookup; the JVM tests pass a map), so a typo in an adb command becomes a
 * message on screen, never a crash or a silently different benchmark.
 */
data class BenchmarkRequest(
    val warmup: Int = DEFAULT_WARMUP,
    val runs: Int = DEFAULT_RUNS,
    val threads: Int = DEFAULT_THREADS,
    val accelerator: Accelerator = Accelerator.XNNPACK,
) {
    /** What [parse] made of an intent. */
    sealed interface Parsed {
        /** The intent does not ask for a benchmark (a plain launch). */
        data object NotRequested : Parsed

        data class Valid(val request: BenchmarkRequest) : Parsed

        /** It asks for one, but an extra is wrong: [message] says which and what is allowed. */
        data class Invalid(val message: String) : Parsed
    }

    companion object {
        const val DEFAULT_WARMUP = 10
        const val DEFAULT_RUNS = 50
        const val DEFAULT_THREADS = 4
        const val MAX_WARMUP = 10_000
        const val MAX_RUNS = 100_000
        const val MAX_THREADS = 64

        /**
         * [extra] returns an extra's value (Boolean, Int, Long, String, ...) or null when absent.
         * `--ez benchmark true` is required; numbers may come as `--ei` or as strings (`--es`).
         */
        fun parse(extra: (String) -> Any?): Parsed {
            val flag = extra("benchmark") ?: return Parsed.NotRequested
            when (flag) {
                true, "true", "1" -> Unit
                false, "false", "0" -> return Parsed.NotRequested
                else -> return Parsed.Invalid("benchmark must be true or false (--ez benchmark true), got '$flag'")
            }
            val problems = mutableListOf<String>()
            fun int(key: String, default: Int, min: Int, max: Int): Int {
                val value = extra(key) ?: return default
                val n = when (value) {
                    is Int -> value.toLong()
                    is Long -> value
                    is Short -> value.toLong()
                    is String -> value.trim().toLongOrNull()
                    else -> null
                }
                if (n == null || n < min || n > max) {
                    problems += "$key must be an integer in $min..$max (--ei $key N), got '$value'"
                    return default
                }
                return n.toInt()
            }
            val warmup = int("warmup", DEFAULT_WARMUP, 0, MAX_WARMUP)
            val runs = int("runs", DEFAULT_RUNS, 1, MAX_RUNS)
            val threads = int("threads", DEFAULT_THREADS, 1, MAX_THREADS)
            val accelerator = when (val name = extra("delegate")) {
                null -> Accelerator.XNNPACK
                is String -> Accelerator.fromReportName(name).also {
                    if (it == null) {
                        val why = if (name.trim().equals("nnapi", ignoreCase = true)) " (NNAPI is deprecated and not offered)" else ""
                        problems += "unknown delegate '$name'$why: use ${Accelerator.choices()}"
                    }
                }
                else -> null.also { problems += "delegate must be a string (--es delegate NAME), got '$name'" }
            }
            if (problems.isNotEmpty() || accelerator == null) {
                return Parsed.Invalid("Benchmark intent refused: " + problems.joinToString("; "))
            }
            return Parsed.Valid(BenchmarkRequest(warmup, runs, threads, accelerator))
        }
    }
}
