from app.errors import Conflict, NotFound, TooManyRequests, Unprocessable


class UnknownCode(NotFound):
    code = "unknown_code"
    title = "Unknown trace code"


class TooManyUnknownCodes(TooManyRequests):
    code = "too_many_attempts"
    title = "Too many unknown codes"


class ProducerNotFound(NotFound):
    code = "producer_not_found"
    title = "Producer not found"


class PlotNotFound(NotFound):
    code = "plot_not_found"
    title = "Plot not found"


class BatchNotFound(NotFound):
    code = "batch_not_found"
    title = "Batch not found"


class EventNotFound(NotFound):
    code = "batch_event_not_found"
    title = "Batch event not found"


class CertificateNotFound(NotFound):
    code = "certificate_not_found"
    title = "Certificate not found"


class CodeRunNotFound(NotFound):
    code = "code_run_not_found"
    title = "Code run not found"


class ProductNotFound(NotFound):
    code = "product_not_found"
    title = "Product not found"


class ProducerNameTaken(Conflict):
    code = "producer_name_taken"
    title = "Producer name taken"


class BatchNoTaken(Conflict):
    code = "batch_no_taken"
    title = "Batch number taken"


class PlotOfAnotherProducer(Unprocessable):
    code = "plot_of_another_producer"
    title = "Plot belongs to another producer"


class UnsupportedFile(Unprocessable):
    status_code = 415
    code = "unsupported_file_type"
    title = "Unsupported file type"


class SaleBlockedExpiredGI(Conflict):
    code = "gi_certificate_expired"
    title = "Geographical-indication certificate expired"


class BatchOfAnotherProduct(Unprocessable):
    code = "batch_of_another_product"
    title = "Batch of another product"


class UnknownOrderLine(Unprocessable):
    code = "unknown_order_line"
    title = "No such line in this order"
