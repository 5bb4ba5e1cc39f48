package dev.fgvcmobile.demo

/**
 * How much to downsample a gallery photo while decoding it: a 48-MP photo decoded at full
 * size is ~190 MB of ARGB, enough to kill the app, while the model only needs
 * resize_w x resize_h pixels.
 *
 * The decoder subsamples by an integer factor (ImageDecoder.setTargetSampleSize, like
 * BitmapFactory's inSampleSize; the aspect ratio is kept whatever the EXIF orientation) so that
 * the decoded image keeps at least [FACTOR] times what the model's resize step needs on its
 * shorter side; the core's Pillow-exact resize does the rest. Photos that are already that
 * small are decoded at full size and give exactly Python's tensor; larger ones differ from
 * Python only by the decoder's subsampling, far below what the Pillow resize then averages.
 */
object DecodeSize {
    /** Keep at least this many decoded pixels per model pixel, per side. */
    const val FACTOR = 4

    /**
     * The sample size (1 = full size, n = 1/n per side) for a [srcWidth] x [srcHeight] image
     * when the model resizes to [needWidth] x [needHeight]. Orientation-agnostic: it compares
     * the image's shorter side with the model's longer one.
     */
    fun sampleSize(srcWidth: Int, srcHeight: Int, needWidth: Int, needHeight: Int): Int {
        require(srcWidth > 0 && srcHeight > 0) { "image size must be positive, got ${srcWidth}x$srcHeight" }
        require(needWidth > 0 && needHeight > 0) { "model size must be positive, got ${needWidth}x$needHeight" }
        val keep = FACTOR.toLong() * maxOf(needWidth, needHeight)
        return (minOf(srcWidth, srcHeight) / keep).toInt().coerceAtLeast(1)
    }
}
