import Foundation

/// torchvision's ImageFolder layout: one folder per class, named by the class, holding its
/// images (`.png`, `.jpg`, `.jpeg` in any case). Classes are the folder names in sorted
/// order, so class index i is the i-th name, as in torchvision.
public enum ImageFolder {
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Every image under `root/<class>/`. With `classes` (the training split's), each folder
    /// must be one of them and labels index into them; otherwise the folders define them.
    public static func load(_ root: String, classes known: [String]? = nil) throws(ClassificationDataError) -> ClassificationSplit {
        let fm = FileManager.default
        let folders = try classNames(root)
        let classes = known ?? folders
        var files: [String] = [], labels: [Int] = []
        for folder in folders {
            guard let label = classes.firstIndex(of: folder) else {
                throw ClassificationDataError(path: (root as NSString).appendingPathComponent(folder),
                                              problem: "is not one of the training classes (\(classes.joined(separator: ", ")))")
            }
            let directory = (root as NSString).appendingPathComponent(folder)
            let images = ((try? fm.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            guard !images.isEmpty else {
                throw ClassificationDataError(path: directory, problem: "holds no images (\(extensions.sorted().joined(separator: ", ")))")
            }
            files += images.map { (directory as NSString).appendingPathComponent($0) }
            labels += Array(repeating: label, count: images.count)
        }
        return ClassificationSplit(classes: classes, labels: labels, images: .files(files))
    }

    /// The class folders under `root`, sorted.
    public static func classNames(_ root: String) throws(ClassificationDataError) -> [String] {
        let fm = FileManager.default
        let entries: [String]
        do { entries = try fm.contentsOfDirectory(atPath: root) } catch {
            throw ClassificationDataError(path: root, problem: "cannot list the folder (an ImageFolder needs train/<class>/ and val/<class>/ folders of images)")
        }
        let folders = entries.filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: (root as NSString).appendingPathComponent(name), isDirectory: &isDirectory) && isDirectory.boolValue
        }.sorted()
        guard !folders.isEmpty else { throw ClassificationDataError(path: root, problem: "holds no class folders (expected <class>/<image>.png)") }
        return folders
    }
}
