from app.errors import NotFound


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    title = "Notification not found"
