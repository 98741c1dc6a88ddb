import Foundation

/// A bar chart as inline SVG, drawn on the server (no script): one bar per bucket of the last 24
/// hours, the largest value labelled, hours marked below. Styled by presentation attributes,
/// which the pages' CSP (`style-src 'self'`) allows where inline `style` would not be.
enum DashboardChart {
    static let width = 480
    static let height = 140
    static let plotTop = 16
    static let plotBottom = 116

    /// `values` oldest first; `hoursAgo(i)` labels every twelfth bucket.
    static func svg(id: String, title: String, values: [Int], colour: String) -> String {
        let e = OAuthPage.escape
        let maximum = max(values.max() ?? 0, 1)
        let slot = Double(width) / Double(max(values.count, 1))
        let plotHeight = Double(plotBottom - plotTop)
        var bars = ""
        for (index, value) in values.enumerated() where value > 0 {
            let barHeight = max(1, (Double(value) / Double(maximum) * plotHeight).rounded())
            let x = Double(index) * slot + 1
            bars += "<rect x=\"\(format(x))\" y=\"\(format(Double(plotBottom) - barHeight))\" width=\"\(format(max(slot - 2, 1)))\" "
                + "height=\"\(format(barHeight))\" fill=\"\(colour)\"><title>\(value)</title></rect>"
        }
        var ticks = ""
        for index in stride(from: 0, to: values.count, by: 12) {
            let hours = (values.count - index) / 2
            ticks += "<text x=\"\(format(Double(index) * slot + 2))\" y=\"134\" font-size=\"11\" fill=\"#5b6270\">−\(hours) h</text>"
        }
        return """
            <svg id="\(e(id))" class="chart" viewBox="0 0 \(width) \(height)" role="img" aria-label="\(e(title))" \
            xmlns="http://www.w3.org/2000/svg" data-total="\(values.reduce(0, +))">\
            <title>\(e(title))</title>\
            <line x1="0" y1="\(plotBottom)" x2="\(width)" y2="\(plotBottom)" stroke="#c4c9d2" stroke-width="1"/>\
            <text x="2" y="11" font-size="11" fill="#5b6270">max \(maximum) per 30 min</text>\
            \(bars)\(ticks)<text x="\(width - 2)" y="134" font-size="11" fill="#5b6270" text-anchor="end">now</text></svg>
            """
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}
