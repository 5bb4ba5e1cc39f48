package dev.fgvcmobile.demo

import java.io.File
import java.io.IOException
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.TimeZone

/** Where and how a benchmark report is written: plain files, no Android, so the JVM tests run it. */
object BenchReportFiles {

    /** ISO 8601 UTC, the report's "created" field: "2025-01-31T12:00:00Z". */
    fun created(now: Date): String = utc("yyyy-MM-dd'T'HH:mm:ss'Z'").format(now)

    /**
     * Write [json] to [dir]/bench-<UTC time>.json (bench-<time>-2.json, -3, ... when a report of
     * the same second exists, so back-to-back benchmark intents never overwrite each other)
     * through a temporary file and a rename, so a reader never sees half a report.
     */
    fun write(dir: File, json: String, now: Date): File {
        if (!dir.isDirectory && !dir.mkdirs()) throw IOException("cannot create $dir")
        val stamp = utc("yyyyMMdd-HHmmss").format(now)
        val file = generateSequence(1) { it + 1 }
            .map { n -> File(dir, if (n == 1) "bench-$stamp.json" else "bench-$stamp-$n.json") }
            .first { !it.exists() }
        val tmp = File(dir, ".${file.name}.tmp")
        try {
            tmp.writeText(json, Charsets.UTF_8)
            if (!tmp.renameTo(file)) throw IOException("cannot rename $tmp to $file")
        } finally {
            tmp.delete()
        }
        return file
    }

    private fun utc(pattern: String) = SimpleDateFormat(pattern, Locale.ROOT).apply { timeZone = TimeZone.getTimeZone("UTC") }
}
