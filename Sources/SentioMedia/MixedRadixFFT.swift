// Complex FFT of any length (here 400 = 4*4*5*5 for Whisper's n_fft), Double precision, Stockham
// autosort form (decimation in frequency: output in natural order, no bit reversal):
//   stage with radix p on sub-length n (m = n/p), stride s:
//     y[q + s*(p*j + r)] = (sum_t x[q + s*(j + m*t)] * w_p^(t*r)) * w_n^(j*r)
//   for j < m, q < s, r < p; then n = m, s = s*p.
// `dft` is the direct O(n^2) transform, the reference the fast one is tested against.
import Foundation

public struct MixedRadixFFT: Sendable {
    public let n: Int
    let radices: [Int]
    /// Per stage: twiddles w_n^(j*r) for j < m, r < p, as [j*p + r].
    let twRe: [[Double]], twIm: [[Double]]
    /// Per radix p used: w_p^k for k < p.
    let rootRe: [Int: [Double]], rootIm: [Int: [Double]]

    public init(n: Int) {
        precondition(n >= 1, "FFT length must be positive")
        self.n = n
        var f: [Int] = []
        var rest = n
        for p in [4, 2, 3, 5] { while rest % p == 0 { f.append(p); rest /= p } }
        var p = 7
        while rest > 1 { while rest % p == 0 { f.append(p); rest /= p }; p += 2 }
        radices = f
        var tr: [[Double]] = [], ti: [[Double]] = []
        var cur = n
        for p in f {
            let m = cur / p
            var re = [Double](repeating: 0, count: m * p), im = re
            for j in 0..<m { for r in 0..<p {
                let a = -2 * Double.pi * Double(j * r) / Double(cur)
                re[j * p + r] = cos(a); im[j * p + r] = sin(a)
            } }
            tr.append(re); ti.append(im)
            cur = m
        }
        twRe = tr; twIm = ti
        var rr: [Int: [Double]] = [:], ri: [Int: [Double]] = [:]
        for p in Set(f) {
            rr[p] = (0..<p).map { cos(-2 * Double.pi * Double($0) / Double(p)) }
            ri[p] = (0..<p).map { sin(-2 * Double.pi * Double($0) / Double(p)) }
        }
        rootRe = rr; rootIm = ri
    }

    /// In-place forward transform X[k] = sum_t x[t] e^(-2 pi i t k / n). `scratch` arrays hold n values each.
    public func forward(re: UnsafeMutablePointer<Double>, im: UnsafeMutablePointer<Double>,
                        scratchRe: UnsafeMutablePointer<Double>, scratchIm: UnsafeMutablePointer<Double>) {
        var xr = re, xi = im, yr = scratchRe, yi = scratchIm
        var cur = n, s = 1
        var ar = [Double](repeating: 0, count: 8), ai = ar
        for (stage, p) in radices.enumerated() {
            let m = cur / p
            let wr = rootRe[p]!, wi = rootIm[p]!
            let tr = twRe[stage], ti = twIm[stage]
            if ar.count < p { ar = [Double](repeating: 0, count: p); ai = ar }
            for j in 0..<m {
                for q in 0..<s {
                    for t in 0..<p { let i = q + s * (j + m * t); ar[t] = xr[i]; ai[t] = xi[i] }
                    for r in 0..<p {
                        var sr = ar[0], si = ai[0]
                        var k = r   // (t * r) mod p, stepped without a division
                        for t in 1..<p {
                            sr += ar[t] * wr[k] - ai[t] * wi[k]
                            si += ar[t] * wi[k] + ai[t] * wr[k]
                            k += r; if k >= p { k -= p }
                        }
                        let c = tr[j * p + r], d = ti[j * p + r]
                        let o = q + s * (p * j + r)
                        yr[o] = sr * c - si * d
                        yi[o] = sr * d + si * c
                    }
                }
            }
            swap(&xr, &yr); swap(&xi, &yi)
            cur = m; s *= p
        }
        if xr != re {   // odd number of stages: the result is in the scratch arrays
            re.update(from: xr, count: n); im.update(from: xi, count: n)
        }
    }

    /// Direct DFT (reference twin of `forward`).
    public static func dft(re: [Double], im: [Double]) -> (re: [Double], im: [Double]) {
        let n = re.count
        var or = [Double](repeating: 0, count: n), oi = or
        for k in 0..<n {
            var sr = 0.0, si = 0.0
            for t in 0..<n {
                let a = -2 * Double.pi * Double((t * k) % n) / Double(n)
                let c = cos(a), s = sin(a)
                sr += re[t] * c - im[t] * s
                si += re[t] * s + im[t] * c
            }
            or[k] = sr; oi[k] = si
        }
        return (or, oi)
    }
}
