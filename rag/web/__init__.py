"""News from the web: pages added by address (`add`), feeds followed (`feeds`), fetched safely (`fetch`) and read
into articles with their metadata (`article`)."""
