#pragma once
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libavutil/tx.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

/* Macros Swift cannot import, wrapped as functions. */
static inline int sentio_averror(int e) { return AVERROR(e); }
static inline int sentio_averror_eof(void) { return AVERROR_EOF; }
static inline int64_t sentio_av_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVChannelLayout sentio_layout_mono(void) { AVChannelLayout l = AV_CHANNEL_LAYOUT_MONO; return l; }

/* Rotation from the stream's display matrix, in degrees counter-clockwise as
   av_display_rotation_get returns it; 0 when the stream carries no matrix. */
static inline double sentio_stream_display_rotation(const AVStream *st) {
    size_t size = 0;
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (!m || size < 9 * sizeof(int32_t)) return 0.0;
    double r = av_display_rotation_get((const int32_t *)m);
    return r != r ? 0.0 : r; /* NaN for a degenerate matrix */
}
