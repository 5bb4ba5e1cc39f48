package dev.fgvcmobile.demo

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** Benchmark intents as `adb shell am start ... --ez/--ei/--es` delivers them (Bundle values). */
class BenchmarkRequestTest {
    private fun parse(vararg extras: Pair<String, Any?>) = BenchmarkRequest.parse(mapOf(*extras)::get)

    private fun invalid(vararg extras: Pair<String, Any?>): String {
        val parsed = parse(*extras)
        assertTrue("expected Invalid, got $parsed", parsed is BenchmarkRequest.Parsed.Invalid)
        return (parsed as BenchmarkRequest.Parsed.Invalid).message
    }

    @Test
    fun plainLaunchIsNotABenchmark() {
        assertEquals(BenchmarkRequest.Parsed.NotRequested, parse())
        assertEquals(BenchmarkRequest.Parsed.NotRequested, parse("runs" to 5))
        assertEquals(BenchmarkRequest.Parsed.NotRequested, parse("benchmark" to false))
        assertEquals(BenchmarkRequest.Parsed.NotRequested, parse("benchmark" to "false"))
    }

    @Test
    fun defaultsMatchTheBenchmarkButton() {
        assertEquals(BenchmarkRequest.Parsed.Valid(BenchmarkRequest(10, 50, 4, Accelerator.XNNPACK)), parse("benchmark" to true))
    }

    @Test
    fun theReadmeCommandIsParsed() {
        val parsed = parse("benchmark" to true, "warmup" to 3, "runs" to 20, "threads" to 2, "delegate" to "gpu")
        assertEquals(BenchmarkRequest.Parsed.Valid(BenchmarkRequest(3, 20, 2, Accelerator.GPU)), parsed)
    }

    @Test
    fun stringsAndLongsAreAcceptedForNumbersAndFlags() {
        val parsed = parse("benchmark" to "true", "warmup" to "0", "runs" to 7L, "threads" to " 8 ", "delegate" to "CPU")
        assertEquals(BenchmarkRequest.Parsed.Valid(BenchmarkRequest(0, 7, 8, Accelerator.CPU)), parsed)
    }

    @Test
    fun everyDelegateNameRoundTrips() {
        for (a in Accelerator.entries) {
            assertEquals(BenchmarkRequest.Parsed.Valid(BenchmarkRequest(accelerator = a)), parse("benchmark" to true, "delegate" to a.reportName))
        }
    }

    @Test
    fun nnapiIsRefusedWithTheReason() {
        val message = invalid("benchmark" to true, "delegate" to "nnapi")
        assertTrue(message, message.contains("NNAPI is deprecated"))
        assertTrue(message, message.contains("xnnpack, cpu or gpu"))
    }

    @Test
    fun badValuesAreRefusedNotReplacedByDefaults() {
        assertTrue(invalid("benchmark" to true, "runs" to 0).contains("runs must be an integer in 1..100000"))
        assertTrue(invalid("benchmark" to true, "runs" to "fifty").contains("got 'fifty'"))
        assertTrue(invalid("benchmark" to true, "warmup" to -1).contains("warmup"))
        assertTrue(invalid("benchmark" to true, "threads" to 0).contains("threads"))
        assertTrue(invalid("benchmark" to true, "threads" to 65).contains("threads"))
        assertTrue(invalid("benchmark" to true, "runs" to Long.MAX_VALUE).contains("runs"))
        assertTrue(invalid("benchmark" to true, "delegate" to "tpu").contains("unknown delegate 'tpu'"))
        assertTrue(invalid("benchmark" to true, "delegate" to 3).contains("delegate must be a string"))
        assertTrue(invalid("benchmark" to "yes").contains("benchmark must be true or false"))
    }

    @Test
    fun everyProblemIsReportedAtOnce() {
        val message = invalid("benchmark" to true, "runs" to 0, "threads" to 0, "delegate" to "tpu")
        assertTrue(message, message.startsWith("Benchmark intent refused: "))
        assertEquals(message, 3, message.split("; ").size)
    }
}
