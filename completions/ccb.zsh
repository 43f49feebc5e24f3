
#compdef ccb

_ccb_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _CCB_COMPLETE=complete_zsh ccb)
}

compdef _ccb_completion ccb
