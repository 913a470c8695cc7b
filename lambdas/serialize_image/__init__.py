"""serialize_image: validate an uploaded image and pass it on within the state size limit."""
