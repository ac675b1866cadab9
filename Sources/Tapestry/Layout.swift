/// Shape and stride arithmetic: contiguous strides, broadcasting, and walking strided memory.

/// Row-major strides of a contiguous tensor of `shape`.
@inline(__always)
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[axis] = running
        running &*= shape[axis]
    }
    return strides
}

@inline(__always)
func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, &*) }

/// True when `strides` lay `shape` out row-major without gaps (size-1 axes ignored).
@inline(__always)
func isDense(shape: [Int], strides: [Int]) -> Bool {
    var expected = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] != 1 {
        if strides[axis] != expected { return false }
        expected &*= shape[axis]
    }
    return true
}

/// The broadcast of several shapes by NumPy's rule (align right, sizes equal or 1), or nil.
func broadcastShapes(_ shapes: [[Int]]) -> [Int]? {
    let rank = shapes.map(\.count).max() ?? 0
    var result = [Int](repeating: 1, count: rank)
    for shape in shapes {
        let pad = rank - shape.count
        for (i, size) in shape.enumerated() {
            let current = result[pad + i]
            if current == 1 { result[pad + i] = size }
            else if size != 1 && size != current { return nil }
        }
    }
    return result
}

/// Strides that read a tensor of `shape`/`strides` as if it had the broadcast shape `target`
/// (stride 0 along broadcast axes).
func broadcastStrides(shape: [Int], strides: [Int], to target: [Int]) -> [Int] {
    let pad = target.count - shape.count
    var out = [Int](repeating: 0, count: target.count)
    for i in 0..<shape.count where shape[i] != 1 || target[pad + i] == 1 {
        out[pad + i] = shape[i] == 1 ? 0 : strides[i]
    }
    return out
}

/// Normalizes a possibly negative axis against `rank`.
@inline(__always)
func normalizeAxis(_ axis: Int, rank: Int, _ op: StaticString = #function) -> Int {
    let a = axis < 0 ? axis + rank : axis
    check(a >= 0 && a < max(rank, 1), "\(op): axis \(axis) out of range for rank \(rank)")
    return a
}

/// A walk over a shape shared by several operands with their own strides, row by row.
///
/// Adjacent axes that are contiguous for every operand are merged first, so a contiguous
/// tensor is walked as one long row. `rows` holds, for each row, the starting offset of
/// every operand; `rowLength` and `innerStrides` describe the last (innermost) axis.
struct StridedWalk {
    let rowLength: Int
    let innerStrides: [Int]
    /// `rowStarts[r * operands + o]` = offset of operand `o` at the start of row `r`.
    let rowStarts: [Int]
    let rowCount: Int

    init(shape: [Int], strides operandStrides: [[Int]], offsets: [Int]) {
        let operands = operandStrides.count
        // Fast path: every operand is dense row-major or a single broadcast value.
        if operandStrides.allSatisfy({ isDense(shape: shape, strides: $0) || $0.allSatisfy { $0 == 0 } }) {
            rowLength = shape.reduce(1, &*)
            innerStrides = operandStrides.map { $0.last.map { $0 == 0 ? 0 : 1 } ?? 0 }
            rowStarts = offsets
            rowCount = rowLength == 0 ? 0 : 1
            return
        }
        // Merge axes; drop size-1 axes.
        var dims: [Int] = []
        var strides: [[Int]] = Array(repeating: [], count: operands)
        for axis in 0..<shape.count where shape[axis] != 1 {
            if !dims.isEmpty,
               (0..<operands).allSatisfy({ strides[$0].last! == operandStrides[$0][axis] &* shape[axis] }) {
                dims[dims.count - 1] = dims[dims.count - 1] &* shape[axis]
                for o in 0..<operands { strides[o][strides[o].count - 1] = operandStrides[o][axis] }
            } else {
                dims.append(shape[axis])
                for o in 0..<operands { strides[o].append(operandStrides[o][axis]) }
            }
        }
        if shape.contains(0) {
            rowLength = 0; innerStrides = Array(repeating: 0, count: operands)
            rowStarts = []; rowCount = 0; return
        }
        if dims.isEmpty {
            rowLength = 1; innerStrides = Array(repeating: 0, count: operands)
            rowStarts = offsets; rowCount = 1; return
        }
        rowLength = dims.last!
        innerStrides = strides.map { $0.last! }
        let outer = Array(dims.dropLast())
        let count = outer.reduce(1, &*)
        rowCount = count
        rowStarts = Self.rowStarts(outer: outer, strides: strides.map { Array($0.dropLast()) }, offsets: offsets, count: count)
    }

    /// The start of every row: rows of the last outer axis are filled in one pass
    /// (start + k·stride), and the odometer over the other outer axes advances once per block.
    private static func rowStarts(outer: [Int], strides: [[Int]], offsets: [Int], count: Int) -> [Int] {
        let operands = offsets.count
        guard let blockLength = outer.last else { return offsets }
        var starts = [Int](repeating: 0, count: count &* operands)
        let blockStrides = strides.map { $0.last! }
        var index = [Int](repeating: 0, count: outer.count)
        var current = offsets
        starts.withUnsafeMutableBufferPointer { out in
            var row = 0
            while row < count {
                for k in 0..<blockLength {
                    let base = (row &+ k) &* operands
                    for o in 0..<operands { out[base &+ o] = current[o] &+ k &* blockStrides[o] }
                }
                row &+= blockLength
                // Advance the odometer over the outer axes before the last.
                var axis = outer.count - 2
                while axis >= 0 {
                    index[axis] &+= 1
                    for o in 0..<operands { current[o] &+= strides[o][axis] }
                    if index[axis] < outer[axis] { break }
                    for o in 0..<operands { current[o] &-= strides[o][axis] &* outer[axis] }
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        return starts
    }
}
