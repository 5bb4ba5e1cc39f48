package dev.fgvcmobile.demo

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import java.io.File
import java.io.IOException
import java.util.Date

class BenchReportFilesTest {
    @get:Rule
    val tmp = TemporaryFolder()

    private val when0 = Date(1738324800000L) // 2025-01-31T12:00:00Z

    @Test
    fun createdIsUtcIso8601() {
        assertEquals("2025-01-31T12:00:00Z", BenchReportFiles.created(when0))
    }

    @Test
    fun writesTheReportUnderAUtcStampAndLeavesNoTemporaryFile() {
        val dir = File(tmp.root, "files/bench")
        val file = BenchReportFiles.write(dir, "{\"a\": 1}\n", when0)
        assertEquals(File(dir, "bench-20250131-120000.json"), file)
        assertEquals("{\"a\": 1}\n", file.readText())
        assertEquals(listOf(file.name), dir.list()!!.toList())
    }

    @Test
    fun reportsOfTheSameSecondDoNotOverwriteEachOther() {
        val dir = tmp.newFolder("bench")
        val first = BenchReportFiles.write(dir, "1", when0)
        val second = BenchReportFiles.write(dir, "2", when0)
        val third = BenchReportFiles.write(dir, "3", when0)
        assertEquals(listOf("bench-20250131-120000.json", "bench-20250131-120000-2.json", "bench-20250131-120000-3.json"),
            listOf(first.name, second.name, third.name))
        assertEquals("1", first.readText())
        assertEquals("3", third.readText())
    }

    @Test
    fun anUnwritableDirectoryIsAnIOExceptionNotACrash() {
        val blocker = tmp.newFile("bench") // a file where the directory should be
        try {
            BenchReportFiles.write(File(blocker, "sub"), "{}", when0)
            throw AssertionError("expected IOException")
        } catch (e: IOException) {
            assertTrue(e.message!!.contains("cannot create"))
        }
        assertFalse(File(blocker, "sub").exists())
    }
}
